from turbo_whisper.cli import main

raise SystemExit(main())
