"""Calibration: how well the analysis's scores agree with a person's, on a hand-scored set."""
