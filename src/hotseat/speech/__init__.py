"""Spoken interviews: speech to text for answers, text to speech for the interviewer (docs/speech.md).

Speech is a transport concern on top of turns. A voice answer becomes its
transcript here and is then an ordinary typed answer; a spoken turn is the
turn's streamed text, cut into sentences and synthesised one by one.
"""
