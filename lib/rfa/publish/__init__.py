"""Publishing: execute notebooks, render them to self-contained pages, write the site.

``render`` turns an executed notebook into one HTML page (Quarto, or the nbconvert
fallback); ``site`` writes files atomically and maintains ``manifest.json`` and
``index.html`` in the publish directory.
"""
