<?xml version="1.0" encoding="UTF-8"?>
<!--
  Page content: sections, paragraphs, lists, services with prices, photos, galleries, videos.
  Everything is in mode "content" so that the site's other elements (name, description...)
  never fall through to the built-in templates by accident.
  Themes restyle this markup with CSS; they override a template only when the markup itself
  must differ.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <!-- ========================================================== sections -->

  <xsl:template match="section" mode="content">
    <section class="section section-{position()}">
      <xsl:if test="@title">
        <xsl:attribute name="aria-labelledby"><xsl:value-of select="generate-id()"/></xsl:attribute>
        <h2 id="{generate-id()}"><xsl:value-of select="normalize-space(@title)"/></h2>
      </xsl:if>
      <xsl:apply-templates select="*" mode="content"/>
    </section>
  </xsl:template>

  <xsl:template match="p" mode="content">
    <p><xsl:apply-templates mode="inline"/></p>
  </xsl:template>

  <xsl:template match="list" mode="content">
    <ul class="list">
      <xsl:for-each select="item">
        <li><xsl:apply-templates mode="inline"/></li>
      </xsl:for-each>
    </ul>
  </xsl:template>

  <!-- ============================================================ inline -->

  <xsl:template match="em" mode="inline">
    <em><xsl:apply-templates mode="inline"/></em>
  </xsl:template>

  <xsl:template match="strong" mode="inline">
    <strong><xsl:apply-templates mode="inline"/></strong>
  </xsl:template>

  <!-- Links: the schema already restricts href; the theme checks again (a site that was
       never validated must not get a javascript: link) and drops the link, keeping its text,
       when the scheme is not one we know. -->
  <xsl:template match="a" mode="inline">
    <xsl:variable name="href" select="normalize-space(@href)"/>
    <xsl:choose>
      <xsl:when test="starts-with($href, 'https://') or starts-with($href, 'http://')">
        <a href="{$href}" rel="noopener"><xsl:apply-templates mode="inline"/></a>
      </xsl:when>
      <xsl:when test="starts-with($href, 'mailto:') or starts-with($href, 'tel:')
                      or (starts-with($href, '/') and not(starts-with($href, '//')))
                      or starts-with($href, '#')">
        <a href="{$href}"><xsl:apply-templates mode="inline"/></a>
      </xsl:when>
      <xsl:otherwise><xsl:apply-templates mode="inline"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Unknown inline elements: keep their text only. -->
  <xsl:template match="*" mode="inline">
    <xsl:apply-templates mode="inline"/>
  </xsl:template>

  <!-- ========================================================== services -->

  <xsl:template match="services" mode="content">
    <ul class="services">
      <xsl:for-each select="service">
        <li class="service">
          <div class="service-line">
            <span class="service-name"><xsl:value-of select="normalize-space(name)"/></span>
            <xsl:if test="price">
              <span class="service-price">
                <xsl:if test="price/@on-request = 'true'">
                  <xsl:attribute name="class">service-price on-request</xsl:attribute>
                </xsl:if>
                <xsl:call-template name="format-price"><xsl:with-param name="price" select="price"/></xsl:call-template>
              </span>
            </xsl:if>
          </div>
          <xsl:if test="description">
            <p class="service-description"><xsl:apply-templates select="description/node()" mode="inline"/></p>
          </xsl:if>
        </li>
      </xsl:for-each>
    </ul>
  </xsl:template>

  <!-- ============================================================= media -->

  <!-- URL of a media file of this site. src is a relative path (schema); "media/" is
       prefixed here so that themes never build media URLs by hand. -->
  <xsl:template name="media-url">
    <xsl:param name="src"/>
    <xsl:value-of select="concat('/media/', $src)"/>
  </xsl:template>

  <!-- <img> for a photo or logo: alt always, width/height when known (no layout shift),
       lazy loading unless $lazy is false (the logo and hero are above the fold). -->
  <xsl:template name="img">
    <xsl:param name="node" select="."/>
    <xsl:param name="lazy" select="true()"/>
    <xsl:param name="class"/>
    <xsl:param name="alt" select="normalize-space($node/@alt)"/>
    <img alt="{$alt}">
      <xsl:attribute name="src">
        <xsl:call-template name="media-url"><xsl:with-param name="src" select="$node/@src"/></xsl:call-template>
      </xsl:attribute>
      <xsl:if test="$node/@width"><xsl:attribute name="width"><xsl:value-of select="$node/@width"/></xsl:attribute></xsl:if>
      <xsl:if test="$node/@height"><xsl:attribute name="height"><xsl:value-of select="$node/@height"/></xsl:attribute></xsl:if>
      <xsl:if test="$class"><xsl:attribute name="class"><xsl:value-of select="$class"/></xsl:attribute></xsl:if>
      <xsl:choose>
        <xsl:when test="$lazy">
          <xsl:attribute name="loading">lazy</xsl:attribute>
          <xsl:attribute name="decoding">async</xsl:attribute>
        </xsl:when>
        <xsl:otherwise><xsl:attribute name="fetchpriority">high</xsl:attribute></xsl:otherwise>
      </xsl:choose>
    </img>
  </xsl:template>

  <xsl:template match="photo" mode="content">
    <figure class="photo">
      <xsl:call-template name="img"/>
      <xsl:apply-templates select="caption" mode="content"/>
    </figure>
  </xsl:template>

  <xsl:template match="gallery" mode="content">
    <ul class="gallery gallery-{count(photo)}">
      <xsl:for-each select="photo">
        <li>
          <figure>
            <xsl:call-template name="img"/>
            <xsl:apply-templates select="caption" mode="content"/>
          </figure>
        </li>
      </xsl:for-each>
    </ul>
  </xsl:template>

  <xsl:template match="caption" mode="content">
    <figcaption><xsl:value-of select="normalize-space(.)"/></figcaption>
  </xsl:template>

  <!-- preload="none": nothing is downloaded before the visitor presses play. -->
  <xsl:template match="video" mode="content">
    <xsl:variable name="url">
      <xsl:call-template name="media-url"><xsl:with-param name="src" select="@src"/></xsl:call-template>
    </xsl:variable>
    <figure class="video">
      <!-- src on <video> rather than a <source> child: libxml2's HTML serialiser predates
           HTML5 and would write a stray </source> end tag. -->
      <video src="{$url}" controls="controls" preload="none" playsinline="playsinline">
        <xsl:if test="@poster">
          <xsl:attribute name="poster">
            <xsl:call-template name="media-url"><xsl:with-param name="src" select="@poster"/></xsl:call-template>
          </xsl:attribute>
        </xsl:if>
        <xsl:if test="@width"><xsl:attribute name="width"><xsl:value-of select="@width"/></xsl:attribute></xsl:if>
        <xsl:if test="@height"><xsl:attribute name="height"><xsl:value-of select="@height"/></xsl:attribute></xsl:if>
        <xsl:if test="caption">
          <xsl:attribute name="aria-label"><xsl:value-of select="normalize-space(caption)"/></xsl:attribute>
        </xsl:if>
        <p>
          <xsl:call-template name="t"><xsl:with-param name="key" select="'video-fallback'"/></xsl:call-template>
          <xsl:text> </xsl:text>
          <a href="{$url}"><xsl:call-template name="t"><xsl:with-param name="key" select="'video-download'"/></xsl:call-template></a>
        </p>
      </video>
      <xsl:apply-templates select="caption" mode="content"/>
    </figure>
  </xsl:template>

  <!-- Anything else (a newer schema's element an old theme does not know): skip it. -->
  <xsl:template match="*" mode="content"/>

</xsl:stylesheet>
