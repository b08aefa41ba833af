from sharpminima.cli import main

raise SystemExit(main())
