"""sleeplm.agent"""
