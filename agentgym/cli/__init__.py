"""agentgym.cli"""
