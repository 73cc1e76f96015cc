# Runs first on every reset. Kept empty of logic: a broken boot.py locks a
# board out of its REPL; everything else happens in main.py.
