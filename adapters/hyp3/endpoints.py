"""Where ASF HyP3 and its sign-in are (the defaults of the source's ``url`` and ``auth_url``)."""

API_URL = "https://hyp3-api.asf.alaska.edu"
#: Earthdata Login's authorize endpoint for ASF's auth app: signing in here sets the ``asf-urs`` cookie
AUTH_URL = ("https://urs.earthdata.nasa.gov/oauth/authorize?response_type=code&client_id=BO_n7nTIlMljdvU6kRRB3g"
            "&redirect_uri=https://auth.asf.alaska.edu/login&app_type=401")
