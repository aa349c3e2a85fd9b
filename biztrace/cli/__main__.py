import sys

from biztrace.cli.main import main

sys.exit(main())
