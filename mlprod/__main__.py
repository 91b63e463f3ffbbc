from mlprod.cli import entry

entry()
