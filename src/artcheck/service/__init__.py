"""The REST API and web page (``pip install 'artcheck[serve]'``)."""
