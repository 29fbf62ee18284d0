"""Development scripts: `python -m scripts.docs` (`make docs`); `lock` (`make lock`) is a shell script."""
