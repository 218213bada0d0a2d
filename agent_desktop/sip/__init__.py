"""The softphone engine: the only package that imports pjsua2 (QObjects with signals outside)."""
