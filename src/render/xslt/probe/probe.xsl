<?xml version="1.0" encoding="UTF-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="html" encoding="UTF-8" indent="no"/>
  <xsl:param name="page" select="'accueil'"/>
  <xsl:variable name="site" select="/site"/>
  <xsl:variable name="upper" select="'ABCDEFGHIJKLMNOPQRSTUVWXYZÉÈ'"/>
  <xsl:variable name="lower" select="'abcdefghijklmnopqrstuvwxyzéè'"/>
  <xsl:key name="by-id" match="page" use="@id"/>
  <xsl:template match="/">
    <html lang="{$site/@lang}">
      <head>
        <title><xsl:value-of select="concat(key('by-id', $page)/@title, ' · ', $site/identity/name)"/></title>
        <style>a{color:<xsl:value-of select="$site/identity/@accent"/>}</style>
      </head>
      <body>
        <h1><xsl:value-of select="translate($site/identity/name, $lower, $upper)"/></h1>
        <p><xsl:value-of select="normalize-space(concat('  ', $site/identity/slogan, '   '))"/></p>
        <p><xsl:value-of select="substring-before(/site/contact/address/street, ' rue')"/>
          <xsl:text>|</xsl:text><xsl:value-of select="substring-after(/site/contact/address/street, 'rue ')"/>
          <xsl:text>|</xsl:text><xsl:value-of select="substring(/site/contact/address/city, 2, 4)"/></p>
        <xsl:if test="contains($site/identity/slogan, 'levain')"><p class="levain">levain</p></xsl:if>
        <br/>
        <ul>
          <xsl:for-each select="key('by-id', $page)/section/item">
            <xsl:sort select="." lang="fr" case-order="upper-first" data-type="text"/>
            <xsl:variable name="label" select="."/>
            <li data-price="{@price}"><a href="/p?{translate($label, ' ', '+')}"><xsl:value-of select="$label"/></a></li>
          </xsl:for-each>
        </ul>
        <ol>
          <xsl:for-each select="key('by-id', $page)/section/item">
            <xsl:sort select="@price" data-type="number" order="descending"/>
            <li><xsl:value-of select="format-number(@price, '0.00')"/></li>
          </xsl:for-each>
        </ol>
        <p><xsl:value-of select="count(/site/page) + string-length($site/identity/name)"/></p>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
