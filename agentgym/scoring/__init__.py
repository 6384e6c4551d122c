"""agentgym.scoring"""
