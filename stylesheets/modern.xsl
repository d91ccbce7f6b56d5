<?xml version="1.0" encoding="UTF-8"?>
<!--
  Modern: bold and contemporary. A sticky top bar with a call button, a full-width hero
  on the home page (the site's first photo behind the name, or the accent colour), big
  type, services as cards, and a contrasting contact band at the bottom.
  Markup comes from common/base.xsl; only the layout templates are overridden here.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <xsl:import href="common/base.xsl"/>

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat" media-type="text/html"/>

  <xsl:variable name="theme" select="'modern'"/>

  <xsl:template name="site-header">
    <header class="site-header">
      <div class="bar">
        <xsl:call-template name="brand"/>
        <xsl:call-template name="nav"/>
        <xsl:call-template name="call-button"/>
      </div>
    </header>
  </xsl:template>

  <xsl:template name="main-inner">
    <xsl:choose>
      <xsl:when test="$not-found">
        <div class="wrap"><xsl:call-template name="not-found-body"/></div>
      </xsl:when>
      <xsl:when test="$is-home">
        <xsl:call-template name="hero"/>
        <div class="wrap"><xsl:call-template name="page-body"/></div>
      </xsl:when>
      <xsl:otherwise>
        <div class="page-banner">
          <div class="wrap">
            <p class="kicker"><xsl:value-of select="normalize-space(/site/identity/activity)"/></p>
            <xsl:call-template name="page-heading"/>
          </div>
        </div>
        <div class="wrap"><xsl:call-template name="page-body"/></div>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Home hero: the name as <h1>, slogan, and two calls to action. The photo is
       decorative here (it appears again with its alt text in the page's gallery). -->
  <xsl:template name="hero">
    <section class="hero">
      <xsl:if test="$hero-photo">
        <xsl:attribute name="class">hero has-photo</xsl:attribute>
        <xsl:call-template name="img">
          <xsl:with-param name="node" select="$hero-photo"/>
          <xsl:with-param name="lazy" select="false()"/>
          <xsl:with-param name="class" select="'hero-photo'"/>
          <xsl:with-param name="alt" select="''"/>
        </xsl:call-template>
      </xsl:if>
      <div class="hero-text wrap">
        <p class="kicker"><xsl:value-of select="normalize-space(/site/identity/activity)"/></p>
        <h1><xsl:value-of select="$name"/></h1>
        <xsl:if test="normalize-space(/site/identity/slogan) != ''">
          <p class="lead"><xsl:value-of select="normalize-space(/site/identity/slogan)"/></p>
        </xsl:if>
        <p class="actions">
          <xsl:call-template name="call-button">
            <xsl:with-param name="class" select="'button button-primary'"/>
            <xsl:with-param name="show-number" select="true()"/>
          </xsl:call-template>
          <a class="button button-ghost" href="#contact">
            <xsl:call-template name="t"><xsl:with-param name="key" select="'practical'"/></xsl:call-template>
          </a>
        </p>
      </div>
    </section>
  </xsl:template>

  <xsl:template name="site-footer">
    <footer class="site-footer">
      <div class="band">
        <div class="wrap band-grid">
          <xsl:call-template name="contact-block"/>
          <xsl:call-template name="hours-block"/>
        </div>
      </div>
      <div class="wrap footer-legal">
        <xsl:call-template name="legal-block"/>
        <xsl:call-template name="copyright"/>
      </div>
    </footer>
  </xsl:template>

</xsl:stylesheet>
