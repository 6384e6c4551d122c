"""agentgym.agents"""
