"""`python -m distillnas` is the `distillnas` command."""
from .cli import main

main()
