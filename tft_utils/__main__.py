from tft_utils.cli import main

raise SystemExit(main())
