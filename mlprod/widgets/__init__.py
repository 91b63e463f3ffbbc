"""Interactive explorers for JupyterLab (ipywidgets), each with a static HTML fallback.

Every explorer is shown through :func:`mlprod.widgets.display.with_fallback`: JupyterLab draws the live
widget, while an executed notebook (papermill saves no widget state) and its HTML export show the static
rendering, so reports stay readable offline without nbconvert's widget manager from a CDN.
"""
