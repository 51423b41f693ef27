"""`python -m keras_p2c.cli ...`: the same as `p2c ...`."""

import sys

from keras_p2c.cli.main import main

sys.exit(main())
