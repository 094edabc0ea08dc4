"""``python -m policygen``: the same entry point as the ``policygen`` script."""

from policygen.entry import main

if __name__ == "__main__":
    main()
