"""sleeplm.app"""
