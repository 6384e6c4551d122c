"""agentgym.runner"""
