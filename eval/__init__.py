"""sleeplm.eval"""
