"""Analysing answers: what each assessment point and CV claim the candidate showed."""
