<?xml version="1.0" encoding="UTF-8"?>
<!--
  Light: minimal, mobile-first and fast. One narrow column, the system font, a small
  stylesheet, no decorative images; on phones a call bar stays at the bottom of the screen.
  Markup comes from common/base.xsl; only the layout templates are overridden here.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <xsl:import href="common/base.xsl"/>

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat" media-type="text/html"/>

  <xsl:variable name="theme" select="'light'"/>

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
        <xsl:choose>
          <!-- Home: the name is the heading, the activity and slogan its subtitle. -->
          <xsl:when test="$is-home">
            <div class="intro">
              <h1 class="page-title"><xsl:value-of select="$name"/></h1>
              <p class="lead">
                <xsl:value-of select="normalize-space(/site/identity/activity)"/>
                <xsl:if test="normalize-space(/site/identity/slogan) != ''">
                  <xsl:value-of select="concat(' · ', normalize-space(/site/identity/slogan))"/>
                </xsl:if>
              </p>
            </div>
          </xsl:when>
          <xsl:otherwise><xsl:call-template name="page-heading"/></xsl:otherwise>
        </xsl:choose>
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
      <!-- Fixed at the bottom of small screens (CSS); last in the DOM so it is read last. -->
      <xsl:call-template name="call-button">
        <xsl:with-param name="class" select="'call-bar'"/>
        <xsl:with-param name="show-number" select="true()"/>
      </xsl:call-template>
    </footer>
  </xsl:template>

</xsl:stylesheet>
