"""`python -m agent_desktop`: see agent_desktop.app."""

import sys

from agent_desktop.app import main

sys.exit(main())
