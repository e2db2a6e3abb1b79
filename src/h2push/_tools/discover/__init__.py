"""Find a page"s critical subresources and turn them into a push manifest (``h2push manifest``).

Discovery reads what a browser reads before it renders a page and lists what it will fetch:

* HTML (HTML Standard §4.2.4 ``link``, §4.12.1 ``script``, §4.8.4 ``img``, §4.8.9 ``video``):
  ``<link rel=stylesheet>``, ``<script src>`` (a ``type=module`` script becomes a
  ``modulepreload``), the page"s own ``<link rel=preload|modulepreload|preconnect>`` (their
  ``as``, ``crossorigin``, ``type`` and ``fetchpriority`` are kept), the first N images
  (``<img src>``, the ``srcset`` candidate a 1x screen picks, ``<picture><source>``,
  ``<video poster>``), ``<base href>`` and inline ``<style>``.
* CSS, parsed with tinycss2 (CSS Syntax Level 3): ``@import`` chains (recursive, cycle-safe),
  the ``url()`` of each ``@font-face`` that a current browser downloads (the first with a
  supported ``format()``), and optionally the images of ``background`` and similar properties.

The fetch destination (``as``) comes from what references the URL (a stylesheet link is
``style``, an ``@font-face`` source ``font``, a ``<link rel=preload as=fetch>`` ``fetch``); the
file extension is used only where nothing says (a ``url()`` in a custom property, a preload
without a valid ``as``). A ``.json`` file is never a ``script``. Other origins become
``preconnect`` entries for their origin and are never pushed; ``data:`` URLs are skipped.

Order: every resource gets the :class:`~h2push._tools.discover.models.Weight` of the most important
thing that references it; equal weights keep the order in which the page references them (document
order; a stylesheet"s ``@import`` tree depth-first right after it, then its fonts). The weights,
highest first:

==========  ==================================================================================
weight      resources
==========  ==================================================================================
90          ``preconnect`` to other origins
80          render-blocking stylesheets: ``<link rel=stylesheet>`` in ``<head>`` without a
            ``media`` or with ``all``/``screen``, ``@import`` in them and in ``<head>``
            ``<style>``
70          fonts of those stylesheets (``@font-face``)
60          synchronous classic scripts (no ``async``, ``defer`` or ``type=module``)
50          preloads the page declares itself (``<link rel=preload|modulepreload>``)
40          module scripts (``modulepreload``), ``async`` and ``defer`` scripts
30          other stylesheets (in ``<body>``, other media), their imports and fonts
20          the first N images, in document order
10          CSS images (``background-image`` and the like), only when asked for
==========  ==================================================================================

Left out by rule: images after the first N, ``loading=lazy`` images, ``srcset`` with width
descriptors (the candidate depends on the viewport), scripts with ``nomodule`` or a non-script
``type``, disabled and alternate stylesheets, anything inside ``<template>``, ``<noscript>``,
``<svg>`` or ``<math>``, imports of module scripts (JavaScript is not parsed), fonts and images
of other origins" stylesheets (never fetched), and same-origin stylesheets that cannot be read
(missing, 404, or not served as ``text/css``: browsers would not apply them either).

The functions :func:`~h2push._tools.discover.html.scan_html`,
:func:`~h2push._tools.discover.css.scan_css`, :func:`~h2push._tools.discover.html.parse_srcset`,
:func:`~h2push._tools.discover.html.pick_srcset`,
:func:`~h2push._tools.discover.urls.guess_destination`,
:func:`~h2push._tools.discover.collect.discover_page` and
:func:`~h2push._tools.discover.collect.build_manifest` do no I/O: they take text and return values;
:func:`~h2push._tools.discover.collect.discover_page` asks a callback for stylesheets.
:class:`~h2push._tools.discover.sites.FileSite` and :class:`~h2push._tools.discover.sites.AppSite`
are the I/O: files of a site root, or pages rendered by a WSGI or ASGI application in this process
(no network).

The modules: :mod:`~h2push._tools.discover.models`, :mod:`~h2push._tools.discover.urls`,
:mod:`~h2push._tools.discover.html`, :mod:`~h2push._tools.discover.css`,
:mod:`~h2push._tools.discover.collect` (no I/O), :mod:`~h2push._tools.discover.sites` (the I/O:
files or an app driven in process) and :mod:`~h2push._tools.discover.command` (``h2push
manifest``).
"""

from h2push._extras import require

require("cli", "h2push manifest", "click", "rich", "tinycss2")
