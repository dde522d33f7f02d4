from tests.fakeshopify.fixtures import fake, fake_server  # noqa: F401
