"""`fsa-distill serve`: a trained student over HTTP (app.py), its dynamic batcher (batcher.py), the command (commands.py)."""
