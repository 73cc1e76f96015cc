# Starts the reader application. Ctrl-C at the REPL stops it and gives the
# REPL back (deploy tools rely on that).
try:
    from vitale import app
except ImportError as e:
    print("vitale: application not installed:", e)
else:
    app.main()
