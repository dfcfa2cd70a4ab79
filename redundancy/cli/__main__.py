"""``python -m redundancy.cli``: the same command line as the ``redundancy`` script."""

from redundancy.cli import main

if __name__ == "__main__":
    main()
