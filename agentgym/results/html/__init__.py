"""The HTML report (`agentgym report --html`) and the live viewer (`agentgym view`): one page, two ways to
feed it its data (embedded JSON, or a JSON endpoint on 127.0.0.1)."""
