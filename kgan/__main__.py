"""Lets ``python -m kgan`` run the command-line tool."""

from kgan.cli import main

if __name__ == "__main__":
    main()
