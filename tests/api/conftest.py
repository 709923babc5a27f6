from __future__ import annotations

import sys
from pathlib import Path

# Lets the API tests import their shared helpers module.
sys.path.insert(0, str(Path(__file__).parent))
