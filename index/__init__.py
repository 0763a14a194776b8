"""sleeplm.index"""
