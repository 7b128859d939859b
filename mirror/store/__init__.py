"""The local mirror: schema, migrations, and the code that reads and writes it."""
