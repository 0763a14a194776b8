"""sleeplm.encoder"""
