import sys

from stream_segmenter.cli import main

sys.exit(main())
