"""The trainer console: server-rendered pages (Jinja2), zh-CN first with an English toggle."""
