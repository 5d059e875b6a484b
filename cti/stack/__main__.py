import sys

from cti.stack.product import main

sys.exit(main())
