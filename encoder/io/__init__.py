"""Reading PSG files: EDF/BDF (strict and lenient), annotations, channel mapping, position codings, records.

Rule: io/ imports only the vocabulary and records; it knows nothing of signals, captions or the model.
"""
