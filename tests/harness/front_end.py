"""The API address a built front end calls, as a browser finds it.

Next.js bakes NEXT_PUBLIC_API_BASE_URL into the client scripts when it
builds (the web role's Dockerfile), so the address a site's front end uses
is read from what it serves: the sign-in page's own script, where the
sign-in form posts to `<address>/auth/token`.

In a test directory: sys.path gets tests/harness, then
    from front_end import api_address
    api_address(get)    # get(path) -> the body the site serves at path
As a script, on a test host: front_end.py http://ADDRESS:3000 prints it.
"""

import re
import sys
import urllib.request

SIGN_IN_SCRIPT = re.compile(r'<script src="([^"]*/sign-in/page-[0-9a-f]+\.js)"')
TOKEN_CALL = re.compile(r'"(https?://[^"]+)","/auth/token"')


def api_address(get):
    """The address the sign-in form posts to, or None if its script has none."""
    page = get("/sign-in")
    script = SIGN_IN_SCRIPT.search(page)
    if not script:
        raise LookupError(f"no sign-in script in the sign-in page: {page[:500]}")
    call = TOKEN_CALL.search(get(script.group(1)))
    return call.group(1) if call else None


if __name__ == "__main__":
    def fetch(path):
        with urllib.request.urlopen(sys.argv[1] + path, timeout=20) as reply:
            return reply.read().decode()
    print(api_address(fetch))
