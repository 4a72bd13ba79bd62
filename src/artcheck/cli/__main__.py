import sys

from artcheck.cli import main

sys.exit(main())
