<?xml version="1.0" encoding="UTF-8"?>
<!--
  Skeleton shared by every theme. A theme does

      <xsl:import href="common/base.xsl"/>
      <xsl:variable name="theme" select="'NAME'"/>       (its CSS is /assets/NAME.css)

  and overrides the named templates it wants to lay out differently:
      site-header   the page's <header> (brand, navigation, call button)
      main-inner    what goes inside <main>, after the closures banner
      site-footer   the page's <footer> (contact, hours, legal notice)
      head-extra    anything more in <head>
  and reuses the building blocks below (brand, nav, call-button, page-heading, page-body,
  not-found-body) and those of contact.xsl and content.xsl.

  Parameters come from the publisher (README, "Themes"); $today is an optional extension.
  Security rules the publisher enforces: XSLT 1.0 only, no extension elements or functions,
  no reading of other documents, no output-escaping tricks, no external resources.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <xsl:include href="i18n.xsl"/>
  <xsl:include href="format.xsl"/>
  <xsl:include href="content.xsl"/>
  <xsl:include href="contact.xsl"/>
  <xsl:include href="json-ld.xsl"/>

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat" media-type="text/html"/>

  <!-- ===================================================== parameters -->

  <!-- id of the page to render; empty = home page -->
  <xsl:param name="page" select="''"/>
  <!-- normalised host of the request (unused for URLs: canonical URLs use the main domain) -->
  <xsl:param name="host" select="''"/>
  <!-- "200" or "404" -->
  <xsl:param name="status" select="'200'"/>
  <!-- Optional (extension): today's date, YYYY-MM-DD, to hide past closures. -->
  <xsl:param name="today" select="''"/>

  <!-- Overridden by each theme. -->
  <xsl:variable name="theme" select="'base'"/>

  <!-- ====================================================== the site -->

  <xsl:variable name="site" select="/site"/>
  <xsl:variable name="lang" select="normalize-space(/site/@lang)"/>
  <xsl:variable name="name" select="normalize-space(/site/identity/name)"/>
  <xsl:variable name="home" select="/site/pages/page[1]"/>

  <!-- The page to render; empty when the id is unknown or the publisher says 404. -->
  <xsl:variable name="current"
      select="/site/pages/page[$status != '404'][($page = '' and position() = 1) or ($page != '' and @id = $page)][1]"/>
  <xsl:variable name="not-found" select="not($current)"/>
  <xsl:variable name="is-home" select="$current and generate-id($current) = generate-id($home)"/>

  <xsl:variable name="main-domain" select="normalize-space(/site/domains/domain[@main = 'true'][1])"/>
  <xsl:variable name="base-url" select="concat('https://', $main-domain)"/>

  <!-- Slogan, else activity: site-wide description (meta, JSON-LD, hero). -->
  <xsl:variable name="site-description">
    <xsl:choose>
      <xsl:when test="normalize-space(/site/identity/slogan) != ''"><xsl:value-of select="normalize-space(/site/identity/slogan)"/></xsl:when>
      <xsl:otherwise><xsl:value-of select="normalize-space(/site/identity/activity)"/></xsl:otherwise>
    </xsl:choose>
  </xsl:variable>

  <!-- First photo of the site (home page first): theme hero and og:image. -->
  <xsl:variable name="hero-photo" select="($home//photo | /site/pages/page//photo)[1]"/>
  <xsl:variable name="og-image">
    <xsl:if test="$hero-photo"><xsl:value-of select="concat($base-url, '/media/', $hero-photo/@src)"/></xsl:if>
  </xsl:variable>

  <!-- Brand colour, only if it really is #rrggbb (it goes into a <style> element). -->
  <xsl:variable name="accent">
    <xsl:variable name="a" select="normalize-space(/site/identity/@accent)"/>
    <xsl:if test="string-length($a) = 7 and starts-with($a, '#')
                  and translate(substring($a, 2), '0123456789abcdefABCDEF', '') = ''">
      <xsl:value-of select="$a"/>
    </xsl:if>
  </xsl:variable>

  <!-- ============================================================ urls -->

  <!-- Path of a page: "/" for the first page, "/<id>" for the others. -->
  <xsl:template name="page-path">
    <xsl:param name="p" select="."/>
    <xsl:choose>
      <xsl:when test="generate-id($p) = generate-id($home)">/</xsl:when>
      <xsl:otherwise><xsl:value-of select="concat('/', $p/@id)"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ============================================================ html -->

  <xsl:template match="/">
    <html lang="{$lang}">
      <head>
        <xsl:call-template name="head"/>
      </head>
      <body>
        <xsl:attribute name="class">
          <xsl:value-of select="concat('theme-', $theme)"/>
          <xsl:choose>
            <xsl:when test="$not-found"> page-not-found</xsl:when>
            <xsl:when test="$is-home"> page-home</xsl:when>
            <xsl:otherwise> page-inner</xsl:otherwise>
          </xsl:choose>
        </xsl:attribute>
        <a class="skip-link" href="#main">
          <xsl:call-template name="t"><xsl:with-param name="key" select="'skip'"/></xsl:call-template>
        </a>
        <xsl:call-template name="site-header"/>
        <main id="main">
          <xsl:call-template name="closures-banner"/>
          <xsl:call-template name="main-inner"/>
        </main>
        <xsl:call-template name="site-footer"/>
      </body>
    </html>
  </xsl:template>

  <!-- ============================================================ head -->

  <xsl:template name="head">
    <!-- The HTML output method writes the charset <meta> itself (from encoding="UTF-8"). -->
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
    <title>
      <xsl:choose>
        <xsl:when test="$not-found"><xsl:call-template name="t"><xsl:with-param name="key" select="'not-found'"/></xsl:call-template></xsl:when>
        <xsl:otherwise><xsl:value-of select="normalize-space($current/@title)"/></xsl:otherwise>
      </xsl:choose>
      <xsl:value-of select="concat(' – ', $name)"/>
    </title>
    <xsl:variable name="description">
      <xsl:choose>
        <xsl:when test="normalize-space($current/@description) != ''"><xsl:value-of select="normalize-space($current/@description)"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$site-description"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <meta name="description" content="{$description}"/>
    <xsl:choose>
      <xsl:when test="$not-found">
        <meta name="robots" content="noindex"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="path"><xsl:call-template name="page-path"><xsl:with-param name="p" select="$current"/></xsl:call-template></xsl:variable>
        <link rel="canonical" href="{$base-url}{$path}"/>
        <meta property="og:type" content="website"/>
        <meta property="og:site_name" content="{$name}"/>
        <meta property="og:title" content="{normalize-space($current/@title)}"/>
        <meta property="og:description" content="{$description}"/>
        <meta property="og:url" content="{$base-url}{$path}"/>
        <xsl:if test="$og-image != ''"><meta property="og:image" content="{$og-image}"/></xsl:if>
      </xsl:otherwise>
    </xsl:choose>
    <link rel="stylesheet" href="/assets/{$theme}.css"/>
    <xsl:choose>
      <xsl:when test="/site/identity/logo">
        <link rel="icon"><xsl:attribute name="href"><xsl:call-template name="media-url"><xsl:with-param name="src" select="/site/identity/logo/@src"/></xsl:call-template></xsl:attribute></link>
      </xsl:when>
      <xsl:otherwise><link rel="icon" href="/assets/icons/favicon.svg" type="image/svg+xml"/></xsl:otherwise>
    </xsl:choose>
    <xsl:if test="$accent != ''">
      <meta name="theme-color" content="{$accent}"/>
      <!-- Validated above: "#" and six hex digits, nothing else can reach the CSS. -->
      <style><xsl:value-of select="concat(':root{--accent:', $accent, '}')"/></style>
    </xsl:if>
    <xsl:call-template name="head-extra"/>
    <xsl:call-template name="json-ld"/>
  </xsl:template>

  <xsl:template name="head-extra"/>

  <!-- ================================================= building blocks -->

  <!-- Logo and name, linking home. -->
  <xsl:template name="brand">
    <xsl:param name="show-logo" select="true()"/>
    <a class="brand" href="/">
      <xsl:if test="$is-home"><xsl:attribute name="aria-current">page</xsl:attribute></xsl:if>
      <xsl:if test="$show-logo and /site/identity/logo">
        <!-- alt empty: the name follows, the logo would only repeat it to a screen reader -->
        <xsl:call-template name="img">
          <xsl:with-param name="node" select="/site/identity/logo"/>
          <xsl:with-param name="lazy" select="false()"/>
          <xsl:with-param name="class" select="'brand-logo'"/>
          <xsl:with-param name="alt" select="''"/>
        </xsl:call-template>
      </xsl:if>
      <span class="brand-name"><xsl:value-of select="$name"/></span>
    </a>
  </xsl:template>

  <!-- Every page, in order; the current one marked aria-current="page". -->
  <xsl:template name="nav">
    <nav class="site-nav">
      <xsl:attribute name="aria-label"><xsl:call-template name="t"><xsl:with-param name="key" select="'nav'"/></xsl:call-template></xsl:attribute>
      <ul>
        <xsl:for-each select="/site/pages/page">
          <li>
            <a>
              <xsl:attribute name="href"><xsl:call-template name="page-path"/></xsl:attribute>
              <xsl:if test="$current and generate-id(.) = generate-id($current)">
                <xsl:attribute name="aria-current">page</xsl:attribute>
              </xsl:if>
              <xsl:value-of select="normalize-space(@title)"/>
            </a>
          </li>
        </xsl:for-each>
      </ul>
    </nav>
  </xsl:template>

  <!-- "Call" button with the main phone number, if any. -->
  <xsl:template name="call-button">
    <xsl:param name="class" select="'call-button'"/>
    <xsl:param name="show-number" select="false()"/>
    <xsl:if test="$call-phone">
      <a class="{$class}" href="tel:{$call-phone/@number}">
        <svg class="icon" aria-hidden="true" width="18" height="18" viewBox="0 0 24 24"><path fill="currentColor" d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"/></svg>
        <span>
          <xsl:choose>
            <xsl:when test="$show-number"><xsl:value-of select="normalize-space($call-phone)"/></xsl:when>
            <xsl:otherwise><xsl:call-template name="t"><xsl:with-param name="key" select="'call'"/></xsl:call-template></xsl:otherwise>
          </xsl:choose>
        </span>
      </a>
    </xsl:if>
  </xsl:template>

  <!-- The page's <h1>. -->
  <xsl:template name="page-heading">
    <h1 class="page-title"><xsl:value-of select="normalize-space($current/@title)"/></h1>
  </xsl:template>

  <xsl:template name="page-body">
    <xsl:apply-templates select="$current/section" mode="content"/>
  </xsl:template>

  <!-- Friendly "page not found" main content; the publisher sends the 404 status. -->
  <xsl:template name="not-found-body">
    <section class="not-found">
      <h1 class="page-title"><xsl:call-template name="t"><xsl:with-param name="key" select="'not-found'"/></xsl:call-template></h1>
      <p><xsl:call-template name="t"><xsl:with-param name="key" select="'not-found-text'"/></xsl:call-template></p>
      <p><a class="button" href="/"><xsl:call-template name="t"><xsl:with-param name="key" select="'back-home'"/></xsl:call-template></a></p>
    </section>
  </xsl:template>

  <xsl:template name="copyright">
    <p class="copyright">
      <xsl:value-of select="concat('© ', normalize-space(/site/identity/legal/company), '. ')"/>
      <xsl:call-template name="t"><xsl:with-param name="key" select="'rights'"/></xsl:call-template>
    </p>
  </xsl:template>

  <!-- ==================================================== default layout -->

  <xsl:template name="site-header">
    <header class="site-header">
      <xsl:call-template name="brand"/>
      <xsl:call-template name="nav"/>
    </header>
  </xsl:template>

  <xsl:template name="main-inner">
    <xsl:choose>
      <xsl:when test="$not-found"><xsl:call-template name="not-found-body"/></xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="page-heading"/>
        <xsl:call-template name="page-body"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="site-footer">
    <footer class="site-footer">
      <xsl:call-template name="contact-block"/>
      <xsl:call-template name="hours-block"/>
      <xsl:call-template name="legal-block"/>
      <xsl:call-template name="copyright"/>
    </footer>
  </xsl:template>

</xsl:stylesheet>
