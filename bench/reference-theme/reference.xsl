<?xml version="1.0" encoding="UTF-8"?>
<!--
  Issue 4's reference workload, for bench/compare (option theme-file): a self-contained theme of
  about 100 lines, the size of the one behind shared/README.md's nginx-xslt figure (about
  16,000 pages/s, from which the issue derives its 60-second day). Not a product theme: no
  JSON-LD, no legal notice, no closures, no interface strings in English.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat" media-type="text/html"/>
  <xsl:param name="page" select="''"/>
  <xsl:param name="host" select="''"/>
  <xsl:param name="status" select="'200'"/>
  <xsl:decimal-format name="fr" decimal-separator="," grouping-separator="&#x202F;"/>

  <xsl:variable name="current"
      select="/site/pages/page[$status != '404'][($page = '' and position() = 1) or ($page != '' and @id = $page)][1]"/>
  <xsl:variable name="name" select="normalize-space(/site/identity/name)"/>

  <xsl:template match="/">
    <html lang="{/site/@lang}">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>
          <xsl:choose>
            <xsl:when test="$current"><xsl:value-of select="$current/@title"/></xsl:when>
            <xsl:otherwise>Page introuvable</xsl:otherwise>
          </xsl:choose>
          <xsl:value-of select="concat(' – ', $name)"/>
        </title>
        <meta name="description" content="{normalize-space(/site/identity/slogan)}"/>
        <link rel="stylesheet" href="/assets/light.css"/>
      </head>
      <body>
        <header>
          <a class="brand" href="/"><xsl:value-of select="$name"/></a>
          <nav>
            <ul>
              <xsl:for-each select="/site/pages/page">
                <li><a href="/{substring(@id, 1, string-length(@id) * (position() != 1))}"><xsl:value-of select="@title"/></a></li>
              </xsl:for-each>
            </ul>
          </nav>
        </header>
        <main>
          <xsl:choose>
            <xsl:when test="$current">
              <h1><xsl:value-of select="$current/@title"/></h1>
              <xsl:apply-templates select="$current/section"/>
            </xsl:when>
            <xsl:otherwise><h1>Page introuvable</h1><p><a href="/">Retour à l’accueil</a></p></xsl:otherwise>
          </xsl:choose>
        </main>
        <footer>
          <address>
            <xsl:for-each select="/site/contact/address/street"><xsl:value-of select="."/><br/></xsl:for-each>
            <xsl:value-of select="concat(/site/contact/address/postcode, ' ', /site/contact/address/city)"/>
          </address>
          <xsl:for-each select="/site/contact/phone[@kind != 'fax']">
            <p><a href="tel:{@number}"><xsl:value-of select="."/></a></p>
          </xsl:for-each>
          <table class="hours">
            <xsl:for-each select="/site/hours/day">
              <tr>
                <th><xsl:value-of select="@name"/></th>
                <td>
                  <xsl:for-each select="open"><xsl:value-of select="concat(@from, '–', @to, ' ')"/></xsl:for-each>
                  <xsl:if test="not(open)">fermé</xsl:if>
                </td>
              </tr>
            </xsl:for-each>
          </table>
        </footer>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="section">
    <section>
      <h2><xsl:value-of select="@title"/></h2>
      <xsl:apply-templates/>
    </section>
  </xsl:template>
  <xsl:template match="p"><p><xsl:apply-templates/></p></xsl:template>
  <xsl:template match="a"><a href="{@href}"><xsl:value-of select="."/></a></xsl:template>
  <xsl:template match="em | strong"><em><xsl:value-of select="."/></em></xsl:template>
  <xsl:template match="list"><ul><xsl:for-each select="item"><li><xsl:value-of select="."/></li></xsl:for-each></ul></xsl:template>
  <xsl:template match="gallery">
    <xsl:for-each select="photo"><img src="/media/{@src}" alt="{@alt}" width="{@width}" height="{@height}" loading="lazy"/></xsl:for-each>
  </xsl:template>
  <xsl:template match="services">
    <table class="services">
      <xsl:for-each select="service">
        <tr>
          <td><xsl:value-of select="name"/></td>
          <td>
            <xsl:choose>
              <xsl:when test="price/@on-request = 'true'">Sur devis</xsl:when>
              <xsl:otherwise><xsl:value-of select="concat(format-number(price, '#&#x202F;##0,00', 'fr'), '&#xA0;€')"/></xsl:otherwise>
            </xsl:choose>
          </td>
        </tr>
      </xsl:for-each>
    </table>
  </xsl:template>
  <xsl:template match="*"><xsl:apply-templates/></xsl:template>
</xsl:stylesheet>
