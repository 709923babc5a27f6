"""hotseat: a self-hosted AI mock interviewer whose every word streams."""

__version__ = "0.1.0"
