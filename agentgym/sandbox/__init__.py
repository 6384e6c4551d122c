"""agentgym.sandbox"""
