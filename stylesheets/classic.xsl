<?xml version="1.0" encoding="UTF-8"?>
<!--
  Classic: a traditional shop front. Serif type, warm paper colours, a centred masthead
  with the shop's sign, and a sidebar of practical information (hours, contact) beside
  the text on wide screens, below it on phones.
  Markup comes from common/base.xsl; only the layout templates are overridden here.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <xsl:import href="common/base.xsl"/>

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat" media-type="text/html"/>

  <xsl:variable name="theme" select="'classic'"/>

  <!-- Thin contact strip, then the masthead (the shop's sign), then the navigation.
       On the home page the sign is the page's <h1>; elsewhere the page title is. -->
  <xsl:template name="site-header">
    <header class="site-header">
      <div class="topbar">
        <div class="wrap">
          <span class="topbar-address">
            <xsl:value-of select="concat(normalize-space(/site/contact/address/street[1]), ', ', normalize-space(/site/contact/address/city))"/>
          </span>
          <xsl:call-template name="call-button">
            <xsl:with-param name="class" select="'topbar-phone'"/>
            <xsl:with-param name="show-number" select="true()"/>
          </xsl:call-template>
        </div>
      </div>
      <div class="masthead wrap">
        <xsl:choose>
          <xsl:when test="$is-home">
            <h1 class="sign"><xsl:call-template name="brand"/></h1>
          </xsl:when>
          <xsl:otherwise>
            <p class="sign"><xsl:call-template name="brand"/></p>
          </xsl:otherwise>
        </xsl:choose>
        <p class="tagline">
          <span class="activity"><xsl:value-of select="normalize-space(/site/identity/activity)"/></span>
          <xsl:if test="normalize-space(/site/identity/slogan) != ''">
            <span class="slogan"><xsl:value-of select="normalize-space(/site/identity/slogan)"/></span>
          </xsl:if>
        </p>
      </div>
      <xsl:call-template name="nav"/>
    </header>
  </xsl:template>

  <xsl:template name="main-inner">
    <div class="layout wrap">
      <div class="content">
        <xsl:choose>
          <xsl:when test="$not-found"><xsl:call-template name="not-found-body"/></xsl:when>
          <xsl:otherwise>
            <xsl:if test="not($is-home)"><xsl:call-template name="page-heading"/></xsl:if>
            <xsl:call-template name="page-body"/>
          </xsl:otherwise>
        </xsl:choose>
      </div>
      <aside class="sidebar">
        <xsl:attribute name="aria-label"><xsl:call-template name="t"><xsl:with-param name="key" select="'practical'"/></xsl:call-template></xsl:attribute>
        <xsl:call-template name="hours-block"/>
        <xsl:call-template name="contact-block"/>
      </aside>
    </div>
  </xsl:template>

  <xsl:template name="site-footer">
    <footer class="site-footer">
      <div class="wrap">
        <p class="footer-sign"><xsl:value-of select="$name"/></p>
        <xsl:call-template name="legal-block"/>
        <xsl:call-template name="copyright"/>
      </div>
    </footer>
  </xsl:template>

</xsl:stylesheet>
