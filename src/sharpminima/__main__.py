from sharpminima.cli.main import main

raise SystemExit(main())
