"""The interview: packs of questions, the flow of turns, and the prompts the model sees."""
